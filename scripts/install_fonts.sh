#!/bin/sh
# Font families for the synthetic characters that `best` pre-trains on (Debian/Ubuntu, apt).
# The demo generator draws in every font the machine has; these 35 packages give it 69 Latin
# families (serif, sans, mono, display, handwriting) instead of a stock system's two or three.
# docs/EXPERIMENTS.md measures what they are worth (sessions 6 and 8: +0.2 to +0.7 points) and
# that more is not better (session 8: 120 packages, 236 families, no gain). Other systems: install
# any TrueType/OpenType fonts under /usr/share/fonts; the generator finds them.
set -eu
PACKAGES="fonts-urw-base35 fonts-freefont-ttf fonts-liberation2 fonts-crosextra-carlito
fonts-crosextra-caladea fonts-open-sans fonts-roboto-unhinted fonts-lato fonts-cantarell
fonts-texgyre fonts-b612 fonts-adf-gillius fonts-adf-universalis fonts-adf-verana
fonts-adf-accanthis fonts-adf-berenis fonts-beteckna fonts-comic-neue fonts-oxygen fonts-hack
fonts-firacode fonts-league-spartan fonts-linuxlibertine fonts-ebgaramond fonts-sil-andika
fonts-sil-gentium fonts-jura fonts-cabin fonts-inconsolata fonts-dkg-handwriting fonts-go
fonts-yanone-kaffeesatz fonts-fantasque-sans fonts-junicode fonts-agave"
if ! command -v apt-get >/dev/null; then
    echo "install_fonts.sh: no apt-get here; install TrueType/OpenType fonts by your system's own means" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# shellcheck disable=SC2086  # the list is meant to split into words
$SUDO apt-get install -y --no-install-recommends $PACKAGES
