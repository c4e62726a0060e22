#!/usr/bin/env bash
# Set up this checkout on Debian (run as root, or as a user with sudo):
#   1. Debian packages: a JDK (Java 17+) and Maven for Apache Kafka, clickhouse-server +
#      clickhouse-client, prometheus and prometheus-alertmanager (servers of the local stack,
#      with promtool and amtool), kcat (librdkafka's command line: the client tests),
#      chromium (browser tests), faketime (a worker whose clock is behind: the version
#      tests), poppler-utils and fonts-dejavu-core (settlement statement PDFs) (and
#      python3 / python3-venv if missing) -- apt-get update runs only when
#      something must be installed;
#   2. Apache Kafka: the jars listed in deploy/kafka/pom.xml, resolved by Maven once into
#      $FORGOOD_KAFKA_HOME/kafka-<version>/libs (default ~/.cache/forgood), skipped while the
#      build file is unchanged (no network then);
#   3. .venv with Python >= 3.11;
#   4. `pip install -e '.[test]'` into .venv, skipped while pyproject.toml is unchanged.
# Idempotent: a re-run prints one line per step and changes nothing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv
STAMP="$VENV/.forgood-pyproject.sha256"
LOG="$(mktemp -t forgood-setup.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

step() { printf 'setup: %s\n' "$*"; }

# Run a noisy command; show its output only if it fails.
quietly() {
    if ! "$@" >"$LOG" 2>&1; then
        cat "$LOG" >&2
        step "FAILED: $*" >&2
        exit 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        step "need root (or sudo) to run: $*" >&2
        exit 1
    fi
}

clickhouse_server() {
    command -v clickhouse-server 2>/dev/null && return 0
    for path in /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
        [ -x "$path" ] && { echo "$path"; return 0; }
    done
    return 1
}

# A Python >= 3.11 that can create virtual environments (Debian needs python3-venv for that).
find_python() {
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Java 17 or newer (Kafka 4 brokers refuse older ones).
have_java17() {
    command -v java >/dev/null 2>&1 || return 1
    local version
    version="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
    [ -n "$version" ] && [ "$version" -ge 17 ]
}

# 1. Debian packages
packages=()
have_java17 || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || packages+=(maven)
command -v kcat >/dev/null 2>&1 || packages+=(kcat)
clickhouse_server >/dev/null || packages+=(clickhouse-server clickhouse-client)
find_python >/dev/null || packages+=(python3 python3-venv)
# promtool / amtool check and unit-test the alerting rules and Alertmanager config.
command -v promtool >/dev/null 2>&1 || packages+=(prometheus)
command -v amtool >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
# Debian's Chromium for the counter-page browser test (Playwright drives it; no browser download).
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
command -v faketime >/dev/null 2>&1 || packages+=(faketime)
# pdftotext / pdftoppm read the settlement statements' PDFs as a person would (tests, the README
# sample); DejaVu lets a statement print any name and currency symbol (else: a core font).
command -v pdftotext >/dev/null 2>&1 || packages+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || packages+=(fonts-dejavu-core)
if [ ${#packages[@]} -eq 0 ]; then
    step "Debian packages: java, maven, clickhouse-server ($(clickhouse_server)), prometheus, alertmanager, kcat, chromium, faketime, poppler-utils, DejaVu and Python present"
else
    step "Debian packages: installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quietly as_root apt-get update -q
    # In containers policy-rc.d denies starting services ("invoke-rc.d: policy-rc.d denied
    # execution of start"); that is fine: `forgood stack up` runs its own ClickHouse.
    quietly as_root apt-get install -y -q --no-install-recommends "${packages[@]}"
    if [[ " ${packages[*]} " == *" clickhouse-server "* ]] && command -v systemctl >/dev/null 2>&1 \
        && systemctl is-active --quiet clickhouse-server 2>/dev/null; then
        # The system service would hold ports 9000/8123/9009 that the local stack uses.
        quietly as_root systemctl disable --now clickhouse-server
        step "Debian packages: stopped and disabled the system clickhouse-server service"
    fi
fi

# The system services would hold ports the local stack uses (9090, 9093).
for service in prometheus prometheus-alertmanager; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        quietly as_root systemctl disable --now "$service"
        step "Debian packages: stopped and disabled the system $service service"
    fi
done

# 2. Apache Kafka's jars (deploy/kafka/pom.xml), resolved once
POM=deploy/kafka/pom.xml
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
KAFKA_DIR="${FORGOOD_KAFKA_HOME:-$HOME/.cache/forgood}"
KAFKA_DIR="${KAFKA_DIR/#\~/$HOME}/kafka-$KAFKA_VERSION"
pom_sum="$(sha256sum "$POM" | cut -d' ' -f1)"
if [ "$(cat "$KAFKA_DIR/pom.sha256" 2>/dev/null || true)" = "$pom_sum" ] && ls "$KAFKA_DIR"/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
    step "Apache Kafka $KAFKA_VERSION: resolved in $KAFKA_DIR/libs"
else
    rm -rf "$KAFKA_DIR/libs.partial"
    mkdir -p "$KAFKA_DIR"
    quietly mvn -q -B -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$KAFKA_DIR/libs.partial"
    # Kafka logs through SLF4J 1.7: a 2.x API or a second binding would silence the broker.
    for jar in kafka_2.13- kafka-server- kafka-clients- scala-library- log4j-core- log4j-slf4j-impl- slf4j-api-1.7.36; do
        ls "$KAFKA_DIR/libs.partial/$jar"*.jar >/dev/null 2>&1 || { step "Apache Kafka: $jar*.jar missing after resolving $POM" >&2; exit 1; }
    done
    for jar in slf4j-api-2. log4j-slf4j2-impl- logback-classic-; do
        if ls "$KAFKA_DIR/libs.partial/$jar"*.jar >/dev/null 2>&1; then
            step "Apache Kafka: unexpected $jar*.jar after resolving $POM" >&2; exit 1
        fi
    done
    rm -rf "$KAFKA_DIR/libs"
    mv "$KAFKA_DIR/libs.partial" "$KAFKA_DIR/libs"
    echo "$pom_sum" >"$KAFKA_DIR/pom.sha256"
    step "Apache Kafka $KAFKA_VERSION: resolved into $KAFKA_DIR/libs ($(ls "$KAFKA_DIR/libs" | wc -l) jars)"
fi

# 3. Virtual environment
PYTHON="$(find_python)" || { step "no Python >= 3.11 with venv found" >&2; exit 1; }
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    step "$VENV: present ($("$VENV/bin/python" --version))"
else
    rm -rf "$VENV"
    quietly "$PYTHON" -m venv "$VENV"
    step "$VENV: created with $("$VENV/bin/python" --version) from $PYTHON"
fi

# 4. forgood itself, editable, with the test extras
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" = "$have" ] && "$VENV/bin/python" -m pip show -q forgood >/dev/null 2>&1; then
    step "forgood: installed in $VENV (pyproject.toml unchanged)"
else
    quietly "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
    echo "$want" >"$STAMP"
    step "forgood: installed in $VENV with pip install -e '.[test]'"
fi
