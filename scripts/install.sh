#!/usr/bin/env bash
# Installs authdoctor with its shell completions and man page, both generated from the binary's own
# help (so they list exactly what it accepts):
#   bash scripts/install.sh BINARY PREFIX       e.g. .build-static/release/authdoctor /usr/local
# PREFIX/bin/authdoctor and, beside it, PREFIX/bin/authdoctor-serve (the link server, which `authdoctor
# serve` and `authdoctor demo` hand over to; built next to BINARY), PREFIX/share/man/man1/authdoctor.1, and the bash, zsh and fish completions
# where those shells look for them under PREFIX/share. `make install` runs it (DESTDIR is honoured there).
set -euo pipefail
binary=${1:?usage: install.sh BINARY PREFIX}
prefix=${2:?usage: install.sh BINARY PREFIX}
here=$(cd "$(dirname "$0")" && pwd)
server="$(dirname "$binary")/authdoctor-serve"
[ -x "$server" ] || { echo "install.sh: $server is missing: build both executables (swift build builds every product)" >&2; exit 66; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$binary" --generate-completion-script bash > "$work/authdoctor.bash"
"$binary" --generate-completion-script zsh > "$work/_authdoctor"
"$binary" --generate-completion-script fish > "$work/authdoctor.fish"
python3 "$here/help-to-man.py" "$binary" > "$work/authdoctor.1"

install -d "$prefix/bin" "$prefix/share/man/man1" "$prefix/share/bash-completion/completions" \
  "$prefix/share/zsh/site-functions" "$prefix/share/fish/vendor_completions.d"
# Symbols stripped: the installed binary is about half the size (crash backtraces lose names; the
# build tree keeps the unstripped one). Without binutils' strip it is installed as built.
strip_flag=""
if command -v strip >/dev/null; then strip_flag=-s; fi
install -m 0755 $strip_flag "$binary" "$prefix/bin/authdoctor"
install -m 0755 $strip_flag "$server" "$prefix/bin/authdoctor-serve"
install -m 0644 "$work/authdoctor.1" "$prefix/share/man/man1/authdoctor.1"
install -m 0644 "$work/authdoctor.bash" "$prefix/share/bash-completion/completions/authdoctor"
install -m 0644 "$work/_authdoctor" "$prefix/share/zsh/site-functions/_authdoctor"
install -m 0644 "$work/authdoctor.fish" "$prefix/share/fish/vendor_completions.d/authdoctor.fish"
echo "installed: $prefix/bin/authdoctor (and authdoctor-serve beside it), its man page (man authdoctor) and bash/zsh/fish completions"
