#!/usr/bin/env bash
# Create a virtualenv with Apache Airflow from PyPI, for the peer comparison:
#
#   bash benchmarks/setup_airflow.sh [VENV] [AIRFLOW_VERSION]
#   python -m benchmarks --peer airflow --peer-venv VENV
#
# VENV defaults to ../airflow-venv beside the checkout (never inside it: nothing of
# Airflow is vendored or committed); AIRFLOW_VERSION defaults to 2.10.5, the generation
# miniflow follows. PYTHON picks the interpreter (default: python3.11, else python3).
#
# Airflow's own install instructions use a constraints file published on GitHub, which
# this workplace cannot reach (only package registries are). So the versions that an
# unconstrained `pip install apache-airflow==2.10.5` would get wrong are pinned here,
# from the 2.10.5 constraints for Python 3.11: the providers (newer ones need Airflow 3),
# Flask-AppBuilder and its Flask/Werkzeug/marshmallow line, SQLAlchemy 1.4, and the
# PostgreSQL driver. Everything else is what pip resolves today, so this venv is close
# to, not identical with, an official install.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-$(dirname "$(dirname "$here")")/airflow-venv}"
version="${2:-2.10.5}"
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"

pins="$(mktemp)"
scratch="$(mktemp -d)"  # AIRFLOW_HOME for the check below, so nothing lands in ~/airflow
trap 'rm -rf "$pins" "$scratch"' EXIT
case "$version" in
  2.*)
    cat >"$pins" <<'EOF'
apache-airflow-providers-common-compat==1.3.0
apache-airflow-providers-common-io==1.5.0
apache-airflow-providers-common-sql==1.21.0
apache-airflow-providers-fab==1.5.2
apache-airflow-providers-ftp==3.12.0
apache-airflow-providers-http==5.0.0
apache-airflow-providers-imap==3.8.0
apache-airflow-providers-smtp==1.9.0
apache-airflow-providers-sqlite==4.0.0
apache-airflow-providers-postgres==6.0.0
flask-appbuilder==4.5.2
flask==2.2.5
werkzeug==2.2.3
flask-session==0.5.0
connexion==2.14.2
sqlalchemy==1.4.54
marshmallow<4
marshmallow-sqlalchemy<0.29
universal-pathlib==0.2.6
pendulum==3.0.0
psycopg2-binary==2.9.10
EOF
    ;;
  *)  # Airflow 3: its providers declare their own Airflow bounds; only the driver is added
    echo "psycopg2-binary==2.9.10" >"$pins"
    ;;
esac

echo "creating $venv with apache-airflow==$version ($("$python" --version))"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -c "$pins" "apache-airflow==$version" \
  apache-airflow-providers-postgres psycopg2-binary
AIRFLOW_HOME="$scratch" AIRFLOW__CORE__LOAD_EXAMPLES=False "$venv/bin/airflow" version
