#!/bin/sh
# Font families for the synthetic characters that `best` pre-trains on (Debian/Ubuntu, apt).
# The demo generator draws in every font the machine has; these 35 packages give it 69 Latin
# families (serif, sans, mono, display, handwriting) instead of a stock system's two or three.
# docs/EXPERIMENTS.md (session 6) measures what they are worth. Other systems: install any
# TrueType/OpenType fonts under /usr/share/fonts; the generator finds them.
set -eu
PACKAGES="fonts-urw-base35 fonts-freefont-ttf fonts-liberation2 fonts-crosextra-carlito
fonts-crosextra-caladea fonts-open-sans fonts-roboto-unhinted fonts-lato fonts-cantarell
fonts-texgyre fonts-b612 fonts-adf-gillius fonts-adf-universalis fonts-adf-verana
fonts-adf-accanthis fonts-adf-berenis fonts-beteckna fonts-comic-neue fonts-oxygen fonts-hack
fonts-firacode fonts-league-spartan fonts-linuxlibertine fonts-ebgaramond fonts-sil-andika
fonts-sil-gentium fonts-jura fonts-cabin fonts-inconsolata fonts-dkg-handwriting fonts-go
fonts-yanone-kaffeesatz fonts-fantasque-sans fonts-junicode fonts-agave
fonts-adf-baskervald fonts-adf-ikarius fonts-adf-irianis fonts-adf-libris fonts-adf-mekanus
fonts-adf-oldania fonts-adf-romande fonts-adf-switzera fonts-adf-tribun fonts-allerta fonts-apropal
fonts-arapey fonts-arkpandora fonts-averia-gwf fonts-averia-sans-gwf fonts-averia-serif-gwf
fonts-breip fonts-cabinsketch fonts-cardo fonts-century-catalogue fonts-clear-sans fonts-cmu
fonts-comfortaa fonts-compagnon fonts-croscore fonts-dancingscript fonts-dosis fonts-dustin
fonts-elstob fonts-engadget fonts-eurofurence fonts-fanwood fonts-femkeklaver fonts-ferrite-core
fonts-freefont-otf fonts-gfs-neohellenic fonts-gnutypewriter fonts-gotico-antiqua
fonts-goudybookletter fonts-hermit fonts-inter fonts-isabella fonts-jetbrains-mono
fonts-johnsmith-induni fonts-junction fonts-karla fonts-karmilla fonts-klee fonts-le-murmure
fonts-league-mono fonts-leckerli-one fonts-lindenhill fonts-linex fonts-lobster fonts-manrope
fonts-monofur fonts-mononoki fonts-mplus fonts-national-park fonts-ocr-a fonts-ocr-b fonts-okolaks
fonts-oldstandard fonts-opendin fonts-osifont fonts-paratype fonts-play fonts-prociono
fonts-quattrocento fonts-quicksand fonts-radisnoir fonts-roadgeek fonts-roboto-slab
fonts-routed-gothic fonts-rufscript fonts-sjfonts fonts-solide-mirage fonts-sora fonts-staypuft
fonts-stix fonts-summersby fonts-tiresias fonts-tuffy fonts-vollkorn fonts-yusei-magic"
if ! command -v apt-get >/dev/null; then
    echo "install_fonts.sh: no apt-get here; install TrueType/OpenType fonts by your system's own means" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# shellcheck disable=SC2086  # the list is meant to split into words
$SUDO apt-get install -y --no-install-recommends $PACKAGES
