"""What executes for a run: today the logic of the nox sessions (`matrix.run.session`)."""
