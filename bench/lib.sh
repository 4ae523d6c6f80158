# Sourced by the benchmark scripts: the statistics they share.
#   median        the median of the numbers on stdin (one per line; 0 if none)
#   ratio A B     A / B with two decimals ("nan" when B is not positive)
bench_median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; else print 0 }'
}
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'
}
median() { bench_median; }
ratio() { bench_ratio "$@"; }
