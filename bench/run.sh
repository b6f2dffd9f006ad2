#!/usr/bin/env bash
# Whole-process benchmark of apisensor on a generated API capture.
#
# Usage (from the repository root):
#   bench/run.sh
# Environment knobs:
#   PACKETS=500000   packets in the generated capture (apisensor-gen -kind api)
#   RUNS=3           runs per row; the best (lowest wall time) is reported
#   TMPDIR=          where the capture and outputs go (default /dev/shm when
#                    it has room, else /tmp)
#   SEED=1           generator seed
#   ENCAP=none       encapsulation of the capture (see apisensor-gen -encap)
#   OUT=bench/results.md   markdown table destination
#   KEEP=0           1 keeps the temp dir (capture, outputs, stats)
#   APISENSOR_BIN=   use this apisensor binary instead of building ./cmd/apisensor
#
# Rows, all on the same capture in one run (ratios only mean something
# within one run: machines here are noisy):
#   (a) apisensor read+decode only, 1 worker, GOMAXPROCS=1, pinned to one CPU
#   (g) the same read+decode done with gopacket as it comes (pcapgo and
#       DecodingLayerParser; bench/gopacket-decode), same CPU
#   (r) apisensor read+decode+TCP reassembly (--stop-after reassemble), same
#   (n) apisensor to calls, calls.jsonl written to /dev/null (--out -), same
#   (p) apisensor to calls.jsonl (--stop-after parse: no discovery), same
#   (q) the same with --workers 2 on two CPUs
#   (b) apisensor full pipeline (calls + discovery), one CPU
#   (c) apisensor full pipeline, --workers 2, two CPUs
#   (d) tcpflow -r F -o DIR (reassembly only, single-threaded), one CPU
# a, r, n and p split (p)'s time into stages: decode (a), reassembly (r-a),
# HTTP parsing and JSON encoding (n-r), writing calls.jsonl (p-n).
# Peak RSS comes from /usr/bin/time -v. Missing tools (tcpflow, time, jq) are
# installed with apt-get when running as root; otherwise the row or column is
# skipped with a note.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PACKETS="${PACKETS:-500000}"
RUNS="${RUNS:-3}"
SEED="${SEED:-1}"
ENCAP="${ENCAP:-none}"
OUT="${OUT:-bench/results.md}"
KEEP="${KEEP:-0}"

# The capture and every output go to tmpfs when there is one with room
# (/dev/shm): this is a CPU benchmark, and on a VM whose page cache is
# small the disk otherwise decides which row wins. TMPDIR overrides.
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]] &&
	[[ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt $((PACKETS * 4)) ]]; then
	TMPDIR=/dev/shm
fi
TMP="$(mktemp -d "${TMPDIR:-/tmp}/apisensor-bench.XXXXXX")"
if [[ "$KEEP" != 1 ]]; then
	trap 'rm -rf "$TMP"' EXIT
fi
NOTES=()
note() { NOTES+=("$*"); echo "note: $*" >&2; }
log() { echo "bench: $*" >&2; }

APT_UPDATED=0
# ensure CMD PACKAGE: install PACKAGE with apt-get when CMD is missing and we
# are root; returns 1 when CMD stays unavailable.
ensure() {
	local cmd="$1" pkg="$2"
	if command -v "$cmd" >/dev/null 2>&1 || [[ -x "$cmd" ]]; then
		return 0
	fi
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		return 1
	fi
	log "installing $pkg"
	if [[ "$APT_UPDATED" == 0 ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 || return 1
	command -v "$cmd" >/dev/null 2>&1 || [[ -x "$cmd" ]]
}

ensure go golang || { echo "bench: go is required" >&2; exit 1; }
ensure jq jq || { echo "bench: jq is required to read --stats-json (apt-get install jq)" >&2; exit 1; }
HAVE_TIME=0
if ensure /usr/bin/time time && /usr/bin/time -v true >/dev/null 2>&1; then
	HAVE_TIME=1
else
	note "GNU time missing: peak RSS not measured"
fi
HAVE_TCPFLOW=0
if ensure tcpflow tcpflow; then
	HAVE_TCPFLOW=1
else
	note "tcpflow not available (not root or apt-get failed): row (d) skipped"
fi
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
NCPU="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
HAVE_TASKSET=0
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
	HAVE_TASKSET=1
else
	note "taskset unavailable: runs are not pinned to CPUs"
fi
# PIN1/PIN2 prefix a command to run it on one / two CPUs.
PIN1=()
PIN2=()
if [[ "$HAVE_TASKSET" == 1 ]]; then
	PIN1=(taskset -c 0)
	if [[ "$NCPU" -ge 2 ]]; then
		PIN2=(taskset -c 0,1)
	else
		PIN2=(taskset -c 0)
	fi
fi
if [[ "$NCPU" -lt 2 ]]; then
	note "only one CPU: rows (q) and (c) run on one CPU"
fi

log "building"
GEN="$TMP/apisensor-gen"
go build -o "$GEN" ./cmd/apisensor-gen
if [[ -n "${APISENSOR_BIN:-}" ]]; then
	SENSOR="$APISENSOR_BIN"
	note "apisensor binary from APISENSOR_BIN=$APISENSOR_BIN"
else
	SENSOR="$TMP/apisensor"
	go build -o "$SENSOR" ./cmd/apisensor
fi
GPDECODE="$TMP/gopacket-decode"
go build -o "$GPDECODE" ./bench/gopacket-decode

PCAP="$TMP/api.pcap"
log "generating $PACKETS-packet API capture (seed $SEED, encap $ENCAP)"
GEN_START="$(date +%s.%N)"
"$GEN" -kind api -packets "$PACKETS" -seed "$SEED" -encap "$ENCAP" -o "$PCAP" -truth "$TMP/truth.jsonl" 2>"$TMP/gen.log"
GEN_END="$(date +%s.%N)"
cat "$TMP/gen.log" >&2
GEN_SEC="$(awk -v a="$GEN_START" -v b="$GEN_END" 'BEGIN{printf "%.2f", b-a}')"
PCAP_PACKETS="$(sed -n 's/.*: \([0-9]*\) packets,.*/\1/p' "$TMP/gen.log")"
PCAP_MB="$(awk -v s="$(stat -c %s "$PCAP")" 'BEGIN{printf "%.1f", s/1048576}')"
TRUTH_CALLS="$(wc -l <"$TMP/truth.jsonl" | tr -d ' ')"
cat "$PCAP" >/dev/null # warm the page cache so row (a) does not pay for the disk

# Every row runs RUNS times, interleaved (a g r n p q b c d, a g ...) so
# that a noisy minute hurts all rows alike; the fastest run of each row is
# kept.
declare -A WALL RSS CPU PKTS CALLS ELAPSED
ROWS=(a g r n p q b c)
if [[ "$HAVE_TCPFLOW" == 1 ]]; then
	ROWS+=(d)
fi

# row_cmd ROW DIR STATS sets CMDV to row ROW's command, writing into DIR
# (fresh, empty) and STATS. An array, so paths with spaces stay whole.
row_cmd() {
	local dir="$2" stats="$3"
	local one=("${PIN1[@]}" env GOMAXPROCS=1 "$SENSOR" run -r "$PCAP" --out "$dir" --workers 1 --stats-json "$stats")
	local two=("${PIN2[@]}" "$SENSOR" run -r "$PCAP" --out "$dir" --workers 2 --stats-json "$stats")
	case "$1" in
	a) CMDV=("${one[@]}" --stop-after decode) ;;
	g) CMDV=("${PIN1[@]}" env GOMAXPROCS=1 "$GPDECODE" "$PCAP") ;;
	r) CMDV=("${one[@]}" --stop-after reassemble) ;;
	n) # --out - writes calls.jsonl to stdout, which measure sends to
		# /dev/null for this row: all the work of (p) but the file write.
		CMDV=("${PIN1[@]}" env GOMAXPROCS=1 "$SENSOR" run -r "$PCAP" --out - --workers 1 --stats-json "$stats" --stop-after parse) ;;
	p) CMDV=("${one[@]}" --stop-after parse) ;;
	q) CMDV=("${two[@]}" --stop-after parse) ;;
	b) CMDV=("${one[@]}") ;;
	c) CMDV=("${two[@]}") ;;
	d) CMDV=("${PIN1[@]}" tcpflow -r "$PCAP" -o "$dir") ;;
	esac
}

# measure ROW I: run row ROW once (round I) and keep it when fastest.
measure() {
	local row="$1" i="$2"
	RUNDIR="$TMP/out-$row"
	STATS="$TMP/stats-$row.json"
	rm -rf "$RUNDIR" "$STATS"
	mkdir -p "$RUNDIR"
	row_cmd "$row" "$RUNDIR" "$STATS"
	local runner=()
	if [[ "$HAVE_TIME" == 1 ]]; then
		runner=(/usr/bin/time -v -o "$TMP/time.txt")
	fi
	local t0 t1 wall rss="" cpu=""
	t0="$(date +%s.%N)"
	local ok=1
	if [[ "$row" == n ]]; then
		"${runner[@]}" "${CMDV[@]}" >/dev/null 2>"$TMP/run.log" || ok=0
	else
		"${runner[@]}" "${CMDV[@]}" >"$TMP/run.log" 2>&1 || ok=0
	fi
	[[ "$ok" == 1 ]] || {
		cat "$TMP/run.log" >&2
		echo "bench: row $row failed: ${CMDV[*]}" >&2
		exit 1
	}
	t1="$(date +%s.%N)" # before the parsing below, which is not the run's
	if [[ "$HAVE_TIME" == 1 ]]; then
		rss="$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); printf "%.1f", $2/1024}' "$TMP/time.txt")"
		# user+sys: on a shared VM less sensitive than wall time to
		# other tenants (time stolen from the vCPU is not counted).
		cpu="$(awk -F: '/User time|System time/ {s += $2} END {printf "%.3f", s}' "$TMP/time.txt")"
	fi
	wall="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
	local pk="$PCAP_PACKETS" calls="" el=""
	if [[ -s "$STATS" ]]; then
		pk="$(jq -r '.packets' "$STATS")"
		calls="$(jq -r '.calls' "$STATS")"
		el="$(jq -r '.elapsed_sec | . * 1000 | round / 1000' "$STATS")"
	fi
	log "$row run $i: ${wall}s wall, ${cpu:-?}s CPU, RSS ${rss:-?} MiB, packets $pk, calls ${calls:-n/a}"
	if [[ -z "${WALL[$row]:-}" ]] || awk -v a="$wall" -v b="${WALL[$row]}" 'BEGIN{exit !(a<b)}'; then
		WALL[$row]="$wall" RSS[$row]="${rss:-n/a}" PKTS[$row]="$pk" CALLS[$row]="$calls" ELAPSED[$row]="$el"
	fi
	# CPU time: the least of the runs, kept apart from the wall-time pick.
	if [[ -n "$cpu" ]] && { [[ -z "${CPU[$row]:-}" ]] || awk -v a="$cpu" -v b="${CPU[$row]}" 'BEGIN{exit !(a<b)}'; }; then
		CPU[$row]="$cpu"
	fi
	rm -rf "$RUNDIR"
}

for ((i = 1; i <= RUNS; i++)); do
	for r in "${ROWS[@]}"; do
		measure "$r" "$i"
	done
done

# Derived numbers. div A B prints A/B with the given precision, or n/a.
div() { awk -v a="${1:-}" -v b="${2:-}" -v p="${3:-2}" 'BEGIN{ if (a=="" || b=="" || b+0==0) print "n/a"; else printf "%." p "f", a/b }'; }
rate() { awk -v n="${1:-}" -v t="${2:-}" 'BEGIN{ if (n=="" || t=="" || t+0==0) print "n/a"; else printf "%.0f", n/t }'; }

declare -A NAME=(
	[a]="(a) apisensor read+decode only, 1 worker, GOMAXPROCS=1"
	[g]="(g) gopacket read+decode (pcapgo, DecodingLayerParser), GOMAXPROCS=1"
	[r]="(r) apisensor read+decode+reassembly, 1 worker, GOMAXPROCS=1"
	[n]="(n) apisensor to calls, calls.jsonl to /dev/null, 1 worker, GOMAXPROCS=1"
	[p]="(p) apisensor to calls.jsonl (decode, reassembly, HTTP; no discovery), 1 worker, GOMAXPROCS=1"
	[q]="(q) apisensor to calls.jsonl, --workers 2"
	[b]="(b) apisensor full pipeline (+ discovery, inventory, findings), 1 worker, GOMAXPROCS=1"
	[c]="(c) apisensor full pipeline, --workers 2"
	[d]="(d) tcpflow -r (reassembly only)"
)

LOAD="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
CPU_MODEL="$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)"
REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
	echo "# apisensor whole-process benchmark"
	echo
	echo "Generated by \`bench/run.sh\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $REV, $(go version | awk '{print $3}'),"
	echo "${NCPU} CPUs (${CPU_MODEL:-unknown CPU}), load average at start ${LOAD_START}, at end ${LOAD}."
	echo "Best of $RUNS runs per row, rows interleaved; all rows in one run; files in $(df -P "$TMP" | awk 'NR==2 {print $1}') ($TMP)."
	echo
	echo "Capture: \`apisensor-gen -kind api -packets $PACKETS -seed $SEED -encap $ENCAP\`:"
	echo "$PCAP_PACKETS packets, $PCAP_MB MiB, $TRUTH_CALLS HTTP transactions in the ground truth; generated in ${GEN_SEC}s."
	echo
	echo "| run | packets/s | calls/s | wall s | CPU s | sensor elapsed s | peak RSS MiB |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for r in "${ROWS[@]}"; do
		local_calls="${CALLS[$r]}"
		[[ "$local_calls" == 0 ]] && local_calls="" # decode-only makes no calls
		echo "| ${NAME[$r]} | $(rate "${PKTS[$r]}" "${WALL[$r]}") | $(rate "$local_calls" "${WALL[$r]}") | ${WALL[$r]} | ${CPU[$r]:-n/a} | ${ELAPSED[$r]:-n/a} | ${RSS[$r]} |"
	done
	echo
	echo "| ratio | value | meaning |"
	echo "|---|---:|---|"
	echo "| p/a | $(div "${WALL[p]}" "${WALL[a]}") | pipeline to calls over decode-only (cost of reassembly+HTTP+calls.jsonl) |"
	echo "| p/a CPU | $(div "${CPU[p]:-}" "${CPU[a]:-}") | the same in CPU time (user+sys) |"
	echo "| p/g | $(div "${WALL[p]}" "${WALL[g]}") | pipeline to calls over gopacket's read+decode of the same file |"
	echo "| n/a | $(div "${WALL[n]}" "${WALL[a]}") | pipeline to calls without the write of calls.jsonl, over decode-only |"
	echo "| b/a | $(div "${WALL[b]}" "${WALL[a]}") | full pipeline wall time over decode-only (cost of reassembly+parsing+discovery) |"
	echo "| q vs p | $(div "${WALL[p]}" "${WALL[q]}") | speed-up of 2 workers over 1, to calls (wall p / wall q) |"
	echo "| c vs b | $(div "${WALL[b]}" "${WALL[c]}") | speed-up of 2 workers over 1 (wall b / wall c) |"
	if [[ "$HAVE_TCPFLOW" == 1 ]]; then
		echo "| tcpflow/p | $(div "${WALL[d]}" "${WALL[p]}") | tcpflow wall time over apisensor to calls, one core each (>1: apisensor faster) |"
		echo "| tcpflow/p CPU | $(div "${CPU[d]:-}" "${CPU[p]:-}") | the same in CPU time (user+sys) |"
		echo "| tcpflow/b | $(div "${WALL[d]}" "${WALL[b]}") | tcpflow wall time over apisensor full pipeline (>1: apisensor faster) |"
	else
		echo "| tcpflow/b | n/a | tcpflow not available |"
	fi
	echo
	echo "Where (p)'s wall time goes, from the differences of rows a, r, n and p"
	echo "(each row is its fastest run, so a stage can come out slightly off, even below 0):"
	echo
	echo "| stage | s | share of (p) | rows |"
	echo "|---|---:|---:|---|"
	stage() { echo "| $1 | $(awk -v a="$2" -v b="${3:-0}" 'BEGIN{printf "%.3f", a-b}') | $(awk -v a="$2" -v b="${3:-0}" -v p="${WALL[p]}" 'BEGIN{printf "%.0f%%", 100*(a-b)/p}') | $4 |"; }
	stage "read+decode" "${WALL[a]}" 0 "a"
	stage "TCP reassembly" "${WALL[r]}" "${WALL[a]}" "r - a"
	stage "HTTP parsing, principals, JSON encoding" "${WALL[n]}" "${WALL[r]}" "n - r"
	stage "write(2) of calls.jsonl" "${WALL[p]}" "${WALL[n]}" "p - n"
	echo
	echo "At p = 3a everything after decode has $(awk -v a="${WALL[a]}" 'BEGIN{printf "%.3f", 2*a}') s (2a); reassembly and the"
	echo "write take $(awk -v a="${WALL[a]}" -v r="${WALL[r]}" -v n="${WALL[n]}" -v p="${WALL[p]}" 'BEGIN{printf "%.3f", (r-a)+(p-n)}') s of it, leaving $(awk -v a="${WALL[a]}" -v r="${WALL[r]}" -v n="${WALL[n]}" -v p="${WALL[p]}" 'BEGIN{printf "%.3f", 2*a-(r-a)-(p-n)}') s for HTTP parsing and"
	echo "encoding, which take $(awk -v r="${WALL[r]}" -v n="${WALL[n]}" 'BEGIN{printf "%.3f", n-r}') s here."
	echo
	echo "packets/s and calls/s are over the whole process wall time (startup and output included);"
	echo "\"sensor elapsed\" is apisensor's own elapsed_sec from --stats-json; \"CPU s\" is user+sys"
	echo "from GNU time, the least over the runs (picked apart from the wall time)."
	if [[ "${#NOTES[@]}" -gt 0 ]]; then
		echo
		echo "Notes:"
		for n in "${NOTES[@]}"; do
			echo "- $n"
		done
	fi
} >"$TMP/results.md"
mkdir -p "$(dirname "$OUT")"
cp "$TMP/results.md" "$OUT"
cat "$OUT"
log "wrote $OUT"
[[ "$KEEP" == 1 ]] && log "kept $TMP"
exit 0
