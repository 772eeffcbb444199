from ck_notifier.tables import metadata
from ck_runtime.migrations import run_env

run_env(metadata)
