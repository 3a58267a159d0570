"""The executor axis: what runs a job. `local` spawns a fresh process on this machine."""
