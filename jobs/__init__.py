"""Background work: the arq worker, one module per job, the activity-API connector."""
