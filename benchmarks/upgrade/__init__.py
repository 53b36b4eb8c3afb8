"""The rolling upgrade under load (issue 11, part 3): ``python -m benchmarks.upgrade``.

``driver.py`` builds the two releases (``reelstream.devcluster.artifact``), starts the local
cluster on the old one, runs the load harness (``benchmarks.load``) against it in a
subprocess and, while it runs, migrates (expand), rolls every role
(``reelstream.devcluster.rolling``), reloads the edge and migrates (contract); ``check.py``
then reads the harness's report and the database. docs/reliability.md has the figures.
"""
