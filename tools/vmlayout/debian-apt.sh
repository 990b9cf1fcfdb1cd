# SPDX-License-Identifier: GPL-2.0
# Sourced by the scripts that fetch Debian packages (the kernel source, the
# distribution's own kernels): `debian_apt CACHE_DIR` sets `apt_opts`, an apt
# configuration of our own, with its own state directories under
# CACHE_DIR/apt, reading trixie, trixie-backports and sid from the Debian
# mirror already configured on this machine. The system's apt state is left
# untouched; no host name is written anywhere but that state.

debian_apt() {
	local cache=$1 mirror apt_root
	mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
	if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
		mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list)
	fi
	[ -n "$mirror" ] || { echo "debian-apt: no Debian mirror configured in /etc/apt" >&2; return 1; }
	apt_root=$cache/apt
	mkdir -p "$apt_root/lists/partial" "$apt_root/archives/partial" "$apt_root/etc/preferences.d"
	cat > "$apt_root/etc/sources.list" <<SRC
deb $mirror trixie main
deb $mirror trixie-backports main
deb $mirror sid main
SRC
	apt_opts=(-o "Dir::Etc::SourceList=$apt_root/etc/sources.list"
		-o "Dir::Etc::SourceParts=-" -o "Dir::Etc::Preferences=$apt_root/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$apt_root/etc/preferences.d"
		-o "Dir::State::Lists=$apt_root/lists" -o "Dir::State::Status=/dev/null"
		-o "Dir::Cache=$apt_root" -o "Dir::Cache::Archives=$apt_root/archives"
		-o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
	apt_archives=$apt_root/archives
}

# debian_apt_update: read the package lists (once an hour at most).
debian_apt_update() {
	local stamp=${apt_archives%/archives}/lists/.updated
	if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
		echo "debian-apt: reading package lists from the apt mirror configured on this machine" >&2
		apt-get "${apt_opts[@]}" -qq update >&2 && touch "$stamp"
	fi
}
