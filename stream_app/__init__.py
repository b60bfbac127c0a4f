"""The stream app: faust workers that window, batch, score and alert."""
