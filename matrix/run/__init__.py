"""The run stage: what executes inside an environment, and the session logic that starts it.

- in the environment's pytest process: `test_cases` (one test per case), the plugins loaded
  with `-p` (`crash`, `selection`, `progress`, sharing `plugin_common`), `runner` (a case's
  program executed and judged), `observe`, `check_model`, `gpu`, `program` and `prelude`
  (a case rendered to the script that runs and is its repro);
- the result cache (`cache`: keys and plans; `cache_key`: what a key holds; `store`: the
  entries on disk), `resume`, `costs` (order, shards, the default sample), `compile_cache`;
- the process boundaries: `protocol` (node ids, user properties, xdist's crash wording),
  `messages`, `runfiles` (the harness options and where files go), `supervise`;
- orchestration, called by the noxfile's process (no pydantic, no NumPy there): `session`,
  `install`, `failures` (the run file of an environment whose install failed), and
  `device_run` (the GPU columns on a machine without nox).
"""
