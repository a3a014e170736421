"""Progress of long work is visible when the output is not a terminal."""
import logging

from harness.common.progress import Progress


def test_progress_logs_when_stderr_is_not_a_terminal(monkeypatch, caplog):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    with caplog.at_level(logging.INFO, logger="harness.common.progress"):
        with Progress(10, "attribution", "views", every=0.0) as bar:
            for _ in range(10):
                bar.update()
    assert "attribution: 5/10 views (50%)" in caplog.text and "s left" in caplog.text
    assert "attribution: done, 10 views" in caplog.text
