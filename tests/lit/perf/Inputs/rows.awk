# Checks the `--stats` table of xbarc run/eval for consistency: in every row
# the energy columns add up to the row's total, the layer rows add up to the
# total row (reads, conversions, energies; latency = sum of times is not
# checked, the times overlap), and a slowest layer is at 100.0%, none above.
# Exits 1 with a message on the first mismatch.
function near(a, b) { return (a - b) <= 0.002 * (n + 1) && (b - a) <= 0.002 * (n + 1) }
function fail(msg) { print "rows.awk: " msg > "/dev/stderr"; bad = 1; exit 1 }
/^layer / { in_table = 1; next }
in_table && /^total / {
    # total reads convs saturated time xbar dac adc digital buffer total
    if ($2 != reads || $3 != convs) fail("total reads/conversions " $2 "/" $3 " != sum " reads "/" convs)
    if (!near($11, energy)) fail("total energy " $11 " != sum of rows " energy)
    if (!near($6 + $7 + $8 + $9 + $10, $11)) fail("total row's parts do not add up")
    if (slowest < 1) fail("no layer at 100.0% of the period")
    done = 1; in_table = 0; next
}
in_table {
    # name copies reads convs saturated time xbar dac adc digital buffer total period
    n++
    reads += $3; convs += $4; energy += $12
    if (!near($7 + $8 + $9 + $10 + $11, $12)) fail("row " $1 ": parts do not add up to " $12)
    if ($13 == "100.0%") slowest++
    if ($13 + 0 > 100) fail("row " $1 " above the period: " $13)
}
END { if (!bad && !done) fail("no table"); }
