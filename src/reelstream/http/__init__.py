"""The HTTP kit every feature's routes use: the ``Services`` dependency, the one error handler,
cursor pagination and the base of API schemas. Imports no feature package."""
