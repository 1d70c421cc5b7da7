#!/bin/bash
# Session-table exhaustion: unauthenticated Open Session + RAKP 1 requests
# fill ipmi_sim's 63 session slots.  Stock ipmi_sim 2.0.33 then refuses
# every login ("insufficient resources for session") until its 30 s session
# timeout; the plugin's session guard closes sessions still in RAKP after
# rakp_timeout (3 s) and a legitimate login succeeds a few seconds later.
. "$(dirname "$0")/lib.sh"
need ipmitool ipmi_sim supervisord

# Stock lanserv frees a slot default_session_timeout (30 s) after its Open
# Session at the earliest: a login sooner than this after the flood proves
# the guard freed the slots.
STOCK_FREE_S=29

tap_plan 7
stack_start
PID=$(supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim)

flood() { $PY "$HELPERS/rmcp-probe" "$IPMI_PORT" flood "$@"; }
json() { $PY -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, d))' "$1"; }

check "a login before the flood" ipmi mc info

flood_start=$SECONDS
flood 100 admin >"$TEST_TMP/flood.json"
diag "flood of 100 Open Session + RAKP 1: $(cat "$TEST_TMP/flood.json")"
# Status 0: session opened; 1: insufficient resources for session.
check "the flood filled the table (63 opened, the rest refused)" \
    [ "$(json 'status.get("0", 0) >= 60 and last == 1' <"$TEST_TMP/flood.json")" = True ]
check_fails "a login right after the flood is refused" \
    ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" -U admin -P "$IPMI_PASS" mc info
grep -q "insufficient resources" "$TEST_TMP/last.out" &&
    diag "ipmitool: $(grep -m1 "insufficient resources" "$TEST_TMP/last.out")"

t0=$SECONDS
login() {
    ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" -U admin \
        -P "$IPMI_PASS" mc info
}
logged_in=false
if wait_until 20 login; then
    logged_in=true
    ok "a legitimate login succeeds after the flood"
else
    not_ok "a legitimate login succeeds after the flood"
fi
took=$((SECONDS - t0))
since_flood=$((SECONDS - flood_start))
diag "login $($logged_in && echo succeeded || echo "still refused") $took s after the flood ended ($since_flood s after it began)"
check "sooner than stock ipmi_sim frees a slot ($since_flood s < $STOCK_FREE_S s)" \
    eval '$logged_in && [ "$since_flood" -lt "$STOCK_FREE_S" ]'
check "the plugin logged the sessions it closed" \
    grep -q "closed [0-9]* RMCP+ session(s) still in RAKP after 3000 ms" "$RUN/ipmi_sim.log"
diag "$(grep -m1 "closed [0-9]* RMCP+ session" "$RUN/ipmi_sim.log")"
check "same ipmi_sim process" eval '[ "$(supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim)" = "$PID" ]'
