"""Processing: the jobs that turn an upload into a published video, and their timeline.

kinds.py       the job kinds (the strings stored in ``jobs.kind``)
jobs.py        kind -> handler (one map), claiming a job, running it
runner.py      the leased attempt every kind runs under (heartbeats, outcome, work-dir clean-up)
options.py     the media library's option values, built from ``Settings``
pipeline.py    the steps a transcode attempt shares: fetch, probe, encode, upload
ladder_job.py  a ``transcode`` job: the whole ladder, with per-rendition fallback
rendition_job.py  a ``rendition`` job: some failed renditions added to the published rev
publishing.py  write a rev's manifests; add/remove captions on a published video
poster.py      the ``poster`` job: a new poster at a chosen time
cleanup.py     the ``cleanup`` job: a retired rev removed after its grace period
timeline.py    the stages of an attempt and the timeline the API shows
retry.py       retrying a failed video, some renditions, or a failed job
routes.py      ``GET .../timeline``, ``POST .../retry`` and ``.../renditions/retry``
errors.py      the exception tree
"""
