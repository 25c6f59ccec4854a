"""How long a test waits on real work (a job going through the local stack's queues and workers, a notification
being handled) before it calls it lost. Generous on purpose: the suite runs on every core of a machine that may be
busy with other work, and the limit is only ever reached when something is wrong, so a long one costs nothing."""
REAL_WORK_SECONDS = 120
