"""What SMS Desk's processes print: one line per meaningful event at INFO (the default), and their
repetitive housekeeping too at DEBUG; the LOG_LEVEL environment variable chooses. Each line names the
process that printed it (`make run` names its children "web", "worker 1"…, in SMSDESK_PROCESS)."""
import logging
import os

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# RQ prints at INFO what is housekeeping here: its scheduler's lock (taken and let go by the
# retry mover whenever a retry is due), what a worker listens on, and each job's start and end
HOUSEKEEPING_LOGGERS = ("rq.scheduler", "rq.worker", "rq.job")
DATE_FORMAT = "%H:%M:%S"


def log_level() -> int:
    name = os.environ.get("LOG_LEVEL", "").strip().upper()
    return getattr(logging, name) if name in LEVELS else logging.INFO


def process_name(default: str) -> str:
    return os.environ.get("SMSDESK_PROCESS") or default


def line_format(process: str) -> str:
    return f"%(asctime)s {process.replace('%', '%%')} %(levelname)s %(message)s"


class Housekeeping(logging.Filter):
    """A library's INFO line becomes DEBUG, printed only when the root logger prints DEBUG."""

    def filter(self, record):
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(record.levelno)


def configure(default_process: str) -> None:
    logging.basicConfig(level=log_level(), format=line_format(process_name(default_process)),
                        datefmt=DATE_FORMAT, force=True)
    for name in HOUSEKEEPING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(known, Housekeeping) for known in logger.filters):
            logger.addFilter(Housekeeping())


def gunicorn_log_config(default_process: str) -> dict:
    """For gunicorn's logconfig_dict: its lines and the app's, in the same form as the workers'."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"line": {"format": line_format(process_name(default_process)), "datefmt": DATE_FORMAT}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line",
                                 "stream": "ext://sys.stderr"}},
        "root": {"level": logging.getLevelName(log_level()), "handlers": ["console"]},
        # its level stays the one gunicorn_config gives it
        "loggers": {"gunicorn.error": {"handlers": ["console"], "propagate": False}},
    }
