# Reads `xbarc eval --against FLOAT` output; fails unless the accuracy is at most
# 0.5 point below the reference's and top-1 agreement is at least 99%.
/^reference accuracy:/ { ref = $3 }
/^top-1 agreement:/ { agree = $3 }
/^accuracy:/ { acc = $2 }
END {
    printf "accuracy %s, reference %s, loss %.4f, agreement %s\n", acc, ref, ref - acc, agree
    if (acc == "" || ref == "" || agree == "") exit 1
    if (ref - acc > 0.005 || agree < 0.99) exit 1
}
