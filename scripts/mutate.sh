#!/usr/bin/env bash
# Mutation score per file (`npm run mutate [-- TARGET...]`): StrykerJS mutates one source file at a
# time and runs only the test files that specify it (narrowed so each run fits on a 2-core machine).
# Targets: router-dealer, router-broker, router-session, procedures (or its groups procedures-core,
# procedures-apps, procedures-support and procedures-outbox); default router-* and the procedures groups.
# Each run's report: reports/mutation/by-target/<target>.html and .json; the summary table is printed at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A MUTATE TESTS
MUTATE[router-dealer]="src/router/dealer.ts"
TESTS[router-dealer]="test/router/dealer.test.ts,test/router/basic.test.ts,test/router/meta.test.ts,test/router/hostile.test.ts,test/router/authorization.test.ts,test/router/answers.test.ts,test/router/limits.test.ts,test/router/backpressure.test.ts,test/router/violations.test.ts,test/router/observability.test.ts,test/router/limits-slow-caller.test.ts"
MUTATE[router-broker]="src/router/broker.ts"
TESTS[router-broker]="test/router/broker.test.ts,test/router/answers.test.ts,test/router/basic.test.ts,test/router/meta.test.ts,test/router/hostile.test.ts,test/router/authorization.test.ts,test/router/limits.test.ts"
MUTATE[router-session]="src/router/session.ts"
TESTS[router-session]="test/router/session.test.ts,test/router/session-lifecycle.test.ts,test/router/safety-net.test.ts,test/router/authorization.test.ts,test/router/violations.test.ts,test/router/hostile.test.ts,test/router/basic.test.ts,test/router/limits.test.ts,test/router/meta.test.ts,test/router/dynamic-authorization.test.ts,test/router/authentication.test.ts,test/router/backpressure.test.ts,test/router/limits-slow-caller.test.ts,test/router/answers.test.ts,test/router/observability.test.ts"
MUTATE[procedures]="src/procedures/**/*.ts"
TESTS[procedures]="test/unit/procedures/**/*.test.ts,test/integration/ledger/**/*.test.ts"
# The procedures in groups that fit a run: the call path (arguments, transactions, the caller's
# identity, errors) and the ledger and now.* procedures, each with the unit tests that run them
# through invoke() against the scripted PgClientMock (seconds per mutant, not minutes).
MUTATE[procedures-core]="src/procedures/invoke.ts,src/procedures/Procedure.ts,src/procedures/Contract.ts,src/procedures/Caller.ts,src/procedures/Transaction.ts,src/procedures/SqlState.ts,src/procedures/Rows.ts,src/procedures/Idempotency.ts,src/procedures/Reflection.ts"
TESTS[procedures-core]="test/unit/procedures/**/*.test.ts,test/unit/ledger/**/*.test.ts"
MUTATE[procedures-apps]="src/procedures/ledger/index.ts,src/procedures/now/index.ts"
TESTS[procedures-apps]="test/unit/ledger/**/*.test.ts,test/unit/procedures/now.test.ts,test/unit/procedures/ledger-edges.test.ts"
# Publishing after COMMIT, groups, migrations, progressive results and the typed client, each specified by its own
# unit tests on the PgClientMock, a recording WampSession and the test clock.
MUTATE[procedures-support]="src/procedures/Events.ts,src/procedures/Group.ts,src/procedures/Migrations.ts,src/procedures/Progressive.ts,src/procedures/Client.ts"
TESTS[procedures-support]="test/unit/procedures/events.test.ts,test/unit/procedures/group.test.ts,test/unit/procedures/migrations.test.ts,test/unit/procedures/idempotency-table.test.ts,test/unit/procedures/progressive.test.ts,test/unit/procedures/client.test.ts"
# The outbox (its relay on the PgClientMock and a recording session) and the typed client over the
# embedded router with a raw callee.
MUTATE[procedures-outbox]="src/procedures/Outbox.ts,src/procedures/Remote.ts"
TESTS[procedures-outbox]="test/unit/procedures/outbox.test.ts,test/router/remote-client.test.ts"

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(router-broker router-session router-dealer procedures-core procedures-apps procedures-support procedures-outbox)
concurrency="${STRYKER_CONCURRENCY:-1}"
failed=0
for target in "${targets[@]}"; do
  if [ -z "${MUTATE[$target]:-}" ]; then echo "unknown target: $target" >&2; exit 2; fi
  echo "== $target: ${MUTATE[$target]}"
  if ! npx stryker run --mutate "${MUTATE[$target]}" --testFiles "${TESTS[$target]}" \
      --concurrency "$concurrency"; then
    echo "stryker failed on $target" >&2
    failed=1
  fi
  mkdir -p reports/mutation/by-target
  mv -f reports/mutation/mutation.html "reports/mutation/by-target/$target.html" 2>/dev/null
  mv -f reports/mutation/mutation.json "reports/mutation/by-target/$target.json" 2>/dev/null
done

# Score per file from the JSON reports: killed + timeout over all mutants that tests could reach.
node -e '
const fs = require("fs")
for (const f of fs.readdirSync("reports/mutation/by-target").filter((f) => f.endsWith(".json"))) {
  const report = JSON.parse(fs.readFileSync("reports/mutation/by-target/" + f, "utf8"))
  for (const [file, { mutants }] of Object.entries(report.files)) {
    const count = (s) => mutants.filter((m) => m.status === s).length
    const detected = count("Killed") + count("Timeout")
    const valid = mutants.length - count("CompileError") - count("RuntimeError") - count("Ignored")
    console.log(`${file}: ${(100 * detected / Math.max(valid, 1)).toFixed(1)}% killed (${detected}/${valid}; survived ${count("Survived")}, no coverage ${count("NoCoverage")})`)
  }
}'
exit $failed
