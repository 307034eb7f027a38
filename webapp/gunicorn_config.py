"""gunicorn's settings under `make run` (`-c python:webapp.gunicorn_config`): its lines name the web process."""
import logging

from webapp.logs import gunicorn_log_config, log_level

loglevel = "debug" if log_level() == logging.DEBUG else "warning"  # its INFO lines are each worker's boot
logconfig_dict = gunicorn_log_config("web")
