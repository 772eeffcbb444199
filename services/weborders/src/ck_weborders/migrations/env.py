from ck_runtime.migrations import run_env
from ck_weborders.tables import metadata

run_env(metadata)
