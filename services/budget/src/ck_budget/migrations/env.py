from ck_budget.tables import metadata
from ck_runtime.migrations import run_env

run_env(metadata)
