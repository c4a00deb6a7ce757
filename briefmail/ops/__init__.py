"""Operations around the send: metrics, run reports, logs, the demo and the preview server."""
