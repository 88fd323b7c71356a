"""Past one machine: parity's chunks and the zoo's models as tasks on a Dask cluster.

`connect` reaches the scheduler (or starts a `LocalCluster`), `tasks` takes results as they finish with
every wait bounded, `shipped` carries an export to the workers by content hash, `parity` sends chunk
indices and merges the judged chunks in index order, `tables` makes the zoo's tables a model per task.
A cluster run's report (or table) is the one-process run's. Needs the `cluster` extra (dask,
distributed); nothing on the one-machine path imports this package.
"""
