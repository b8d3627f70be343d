# Reads the ADC report of `xbarc compile --adc=alloc`; fails unless the
# allocation saves at least 30% of the uniform 8-bit ADC energy (issue 4).
/^ADC energy per image:/ && /less than the architecture's uniform 8-bit ADCs/ { saving = $5; sub(/%/, "", saving) }
END {
    printf "ADC energy saved against uniform 8-bit: %s%%\n", saving
    if (saving == "" || saving + 0 < 30) exit 1
}
