from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import text

from .. import broker
from ..extensions import db
from ..services import dashboard as dashboard_service

bp = Blueprint("main", __name__)


@bp.route("/")
@login_required
def dashboard():
    template = "main/_dashboard_live.html" if request.args.get("fragment") else "main/dashboard.html"
    return render_template(template, board=dashboard_service.dashboard(current_user))


@bp.route("/healthz")
def healthz():
    state = {}
    try:
        db.session.execute(text("SELECT 1"))
        state["database"] = "ok"
    except Exception as error:
        state["database"] = f"error: {type(error).__name__}"
    try:
        broker.redis_connection().ping()
        state["broker"] = "ok"
        state["workers"] = len(broker.live_worker_names())
    except Exception as error:
        state["broker"] = f"error: {type(error).__name__}"
        state["workers"] = None
    healthy = state["database"] == "ok" and state["broker"] == "ok" and state["workers"]
    state["status"] = "ok" if healthy else "degraded"
    return jsonify(state), 200 if healthy else 503


@bp.route("/ping")
def ping():
    """A trivial endpoint: the floor the callback benchmark compares against."""
    return "pong"
