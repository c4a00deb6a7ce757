"""The operations every face (CLI, jobs, web console, API) calls: one class per subject."""
