# Reads 'accuracy: A (N images)' lines; fails unless each accuracy is at least
# 0.02 below the one before.
/^accuracy:/ {
    a = $2 + 0
    if (n > 0 && a > last - 0.02) {
        printf "accuracy %s is not below %s\n", a, last
        bad = 1
    }
    last = a
    n++
}
END {
    if (n < 2) {
        print "fewer than two accuracies"
        exit 1
    }
    exit bad
}
