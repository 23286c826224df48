#!/usr/bin/env bash
# The man pages (doc/man/) keep up with the programs. From the help the
# binaries print:
#   - every command `custos --help` lists, and every command below it, is
#     named in custos.1 as "custos PATH" (e.g. "custos admin revoke");
#   - a command with options or arguments has a section of its own in
#     custos.1, headed "custos PATH", naming each of them (-h/--help is
#     named once, under OPTIONS, with custos's own options);
#   - every section headed "custos ..." is a command that exists;
#   - every long option `custosd --help` lists appears in custosd.8;
#   - the four pages exist, groff renders each without a warning, and
#     configure_file put the version in.
# Each missing item is one line on stdout; the exit status is then 1.
#   tests/man_pages.sh CUSTOS CUSTOSD MAN_DIR
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 CUSTOS CUSTOSD MAN_DIR" >&2
  exit 2
fi
custos=$1
custosd=$2
man=$3

for program in "$custos" "$custosd"; do
  "$program" --help >/dev/null 2>&1 || { echo "man pages: $program --help failed" >&2; exit 1; }
done

missing=0
report() {
  echo "$*"
  missing=$((missing + 1))
}

# The roff pandoc writes, as plain text: one line per section, "HEADING",
# a tab, then the section's text with its line breaks as spaces. Font
# changes, escapes ('\-' for '-' too) and requests are taken out.
flatten() {
  sed -e '/^\.\\"/d' \
      -e 's/\\f\[[^]]*\]//g; s/\\f([A-Z][A-Z]//g; s/\\f[A-Z]//g' \
      -e 's/\\-/-/g; s/\\&//g; s/\\ / /g; s/\\~/ /g; s/\\\[dq\]/"/g; s/\\\[[ac]q\]/'"'"'/g' \
      -e 's/\\\[[a-z][a-z]\]/ /g; s/\\e/\\/g' "$1" |
    awk '
      /^\.(SH|SS)([ \t]|$)/ {
        heading = $0
        sub(/^\.(SH|SS)[ \t]*/, "", heading)
        gsub(/"/, "", heading)
        if (started) printf "\n"
        printf "%s\t", heading
        started = 1
        next
      }
      /^\./ { next }
      started { printf " %s", $0 }
      END { if (started) printf "\n" }
    ' | tr -s ' '
}

# The entries of one part of CLI11's help ("Subcommands", "Options",
# "Positionals"): the first word of each line indented by two spaces.
help_part() {
  local part=$1
  shift
  "$@" --help 2>&1 | awk -v part="$part:" '
    $0 == part { inside = 1; next }
    /^[^ ]/ { inside = 0 }
    inside && /^  [^ ]/ { print $1 }
  '
}

# The long and short options of a command, -h and --help left out.
options_of() {
  help_part Options "$@" | tr ',' '\n' | grep -E '^-' | grep -vxE -- '-h|--help' || true
}

# Whether the text on stdin holds WORD, not as part of a longer word.
holds() {
  grep -qE -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|\$)"
}

for page in custos.1 custosd.8 custos.toml.5 custos-module.7; do
  if [ ! -s "$man/$page" ]; then
    report "$page: not in $man"
    continue
  fi
  # pandoc writes an unreplaced @CUSTOS_VERSION@ as \[at]CUSTOS_VERSION\[at].
  if grep -q 'CUSTOS_VERSION' "$man/$page"; then report "$page: @CUSTOS_VERSION@ was not replaced"; fi
  warnings=$(groff -man -Tutf8 -ww -z "$man/$page" 2>&1 || true)
  if [ -n "$warnings" ]; then report "$page: groff warns: $(echo "$warnings" | head -1)"; fi
done
if [ ! -s "$man/custos.1" ] || [ ! -s "$man/custosd.8" ]; then
  echo "man pages: $missing missing"
  exit 1
fi

work=$(mktemp -d /tmp/custos-man.XXXXXX)
trap 'rm -rf "$work"' EXIT
flatten "$man/custos.1" >"$work/custos.1.txt"
flatten "$man/custosd.8" >"$work/custosd.8.txt"

# The text of the section headed exactly $1, heading included.
section() {
  awk -F '\t' -v heading="$1" '$1 == heading { print $1 " " $2 }' "$work/custos.1.txt"
}

# custos's own options, under OPTIONS.
top_options=$(help_part Options "$custos" | tr ',' '\n' | grep -E '^-')
for option in $top_options; do
  section OPTIONS | holds "$option" || report "custos.1: OPTIONS does not name $option"
done

# Every command path, breadth first: "token", "token check", "init", ...
commands=()
queue=("")
while [ ${#queue[@]} -gt 0 ]; do
  parent=${queue[0]}
  queue=("${queue[@]:1}")
  # shellcheck disable=SC2086 # the path is words
  for name in $(help_part Subcommands "$custos" $parent); do
    path=${parent:+$parent }$name
    commands+=("$path")
    queue+=("$path")
  done
done
if [ ${#commands[@]} -eq 0 ]; then
  report "custos --help lists no commands"
fi

options_checked=0
for path in "${commands[@]}"; do
  holds "custos $path" <"$work/custos.1.txt" || report "custos.1: no mention of 'custos $path'"
  # shellcheck disable=SC2086
  wanted=$(options_of "$custos" $path; help_part Positionals "$custos" $path)
  [ -n "$wanted" ] || continue
  text=$(section "custos $path")
  if [ -z "$text" ]; then
    report "custos.1: no section headed 'custos $path' for its options ($(paste -sd ' ' <<<"$wanted"))"
    continue
  fi
  for item in $wanted; do
    options_checked=$((options_checked + 1))
    holds "$item" <<<"$text" || report "custos.1: section 'custos $path' does not name $item"
  done
done

# No section for a command that does not exist.
while IFS= read -r heading; do
  found=0
  for path in "${commands[@]}"; do
    if [ "$heading" = "custos $path" ]; then found=1; break; fi
  done
  [ $found -eq 1 ] || report "custos.1: section '$heading' names no command of custos --help"
done < <(cut -f1 "$work/custos.1.txt" | grep -E '^custos ' || true)

daemon_options=$(help_part Options "$custosd" | tr ',' '\n' | grep -E '^--' || true)
[ -n "$daemon_options" ] || report "custosd --help lists no options"
for option in $daemon_options; do
  holds "$option" <"$work/custosd.8.txt" || report "custosd.8: does not name $option"
done

if [ $missing -gt 0 ]; then
  echo "man pages: $missing missing"
  exit 1
fi
echo "man pages: ok (${#commands[@]} commands, $options_checked options and arguments in custos.1," \
  "$(wc -w <<<"$daemon_options") options in custosd.8)"
