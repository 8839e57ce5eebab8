#!/usr/bin/env bash
# Starts `make run` in the background, checks that the legacy pages, the admin, readiness and the
# supplier simulator answer, then stops it as Ctrl-C does: every process must stop on its own
# within honcho's 5 s, none by SIGKILL. Used by CI to prove the README's run command works.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
setsid make run >"$log" 2>&1 &
pid=$!
stop() { kill -TERM -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
trap stop EXIT

check() {  # url expected-status [request header]
  local status
  for _ in $(seq 1 120); do
    status=$(curl -s -o /dev/null -w '%{http_code}' ${3:+-H "$3"} "$1" || true)
    [ "$status" = "$2" ] && { echo "ok   $1 -> $status"; return 0; }
    sleep 0.5
  done
  echo "FAIL $1 -> $status (expected $2)"; cat "$log"; return 1
}

check http://127.0.0.1:8090/health 200
check http://127.0.0.1:8090/ 200   # the simulator's root lists its endpoints
check http://127.0.0.1:8000/admin/login/ 200
check http://127.0.0.1:8000/orders/ 302
check http://127.0.0.1:8000/readyz 200   # both databases and the Celery broker

# One order through the legacy JSON endpoint: 201 whatever the simulator's chaos decides.
status=$(curl -s -o /dev/null -w '%{http_code}' -m 60 -X POST -H 'Content-Type: application/json' \
  -d '{"customer_name": "Smoke", "customer_email": "smoke@example.com",
       "shipping_address": "1 Smoke Lane", "lines": [{"sku": "BOX-S", "quantity": 1}]}' \
  http://127.0.0.1:8000/api/orders/)
[ "$status" = "201" ] || { echo "FAIL POST /api/orders/ -> $status (expected 201)"; cat "$log"; exit 1; }
echo "ok   POST http://127.0.0.1:8000/api/orders/ -> 201"

# One order through the asynchronous intake: 202 at once with its request, which the intake
# worker places; then the worker renders its invoice (the link answers 202 until then) and sends
# its mail (written under var/mail, with one mail_written line in the log).
token=$(.venv/bin/python manage.py drf_create_token admin | cut -d' ' -f3)
response=$(curl -s -m 30 -X POST -H 'Content-Type: application/json' \
  -H "Authorization: Token $token" -H "Idempotency-Key: smoke-$(date +%s%N)" \
  -d '{"customer_name": "Smoke", "customer_email": "smoke@example.com",
       "shipping_address": "1 Smoke Lane", "lines": [{"sku": "BOX-S", "quantity": 1}]}' \
  -w '\n%{http_code}' http://127.0.0.1:8000/api/v1/orders/)
[ "${response##*$'\n'}" = "202" ] || { echo "FAIL POST /api/v1/orders/ -> $response"; cat "$log"; exit 1; }
echo "ok   POST http://127.0.0.1:8000/api/v1/orders/ -> 202"
follow=$(echo "${response%$'\n'*}" | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["links"]["self"])')
for _ in $(seq 1 120); do
  placed=$(curl -s -m 10 -H "Authorization: Token $token" "http://127.0.0.1:8000$follow")
  read -r number invoice < <(echo "$placed" | .venv/bin/python -c \
    'import json, sys; o = json.load(sys.stdin)["order"] or {}; print(o.get("number", "-"), o.get("links", {}).get("invoice", "-"))')
  [ "$number" != "-" ] && break
  sleep 0.5
done
[ "$number" != "-" ] || { echo "FAIL order request $follow not placed: $placed"; cat "$log"; exit 1; }
echo "ok   order request placed by the intake worker as $number"
check "http://127.0.0.1:8000$invoice" 200 "Authorization: Token $token"
mailed=""
for _ in $(seq 1 120); do
  grep -q "mail_written .*subject='Your order $number'" "$log" && { mailed=yes; break; }
  sleep 0.5
done
[ -n "$mailed" ] || { echo "FAIL no confirmation mail for $number"; cat "$log"; exit 1; }
echo "ok   confirmation mail for $number sent by the worker"

# The development log (tests/system/test_development_log.py reads it closer): no kombu warning
# on publish, no mail printed, no gunicorn access line beside the request's own.
for noise in "No hostname was supplied" "Content-Type: multipart" '"POST /api/orders/ HTTP/1.1"'; do
  if grep -qF "$noise" "$log"; then echo "FAIL the log holds: $noise"; cat "$log"; exit 1; fi
done
echo "ok   the log holds no kombu warning, no printed mail, no access line"

# Ctrl-C: honcho gets SIGINT, sends each process SIGTERM and SIGKILLs what is left after 5 s.
honcho=$(pgrep -P "$pid" -f "honcho -f Procfile start")  # make exec-s it: its child
started=$(date +%s)
kill -INT "$honcho"
wait "$pid" 2>/dev/null || true
trap - EXIT
took=$(( $(date +%s) - started ))
if grep -q "sending SIGKILL" "$log"; then
  echo "FAIL Ctrl-C: honcho had to SIGKILL:"; grep "sending SIGKILL" "$log"; exit 1
fi
echo "ok   Ctrl-C stopped every process on its own in ${took} s"
