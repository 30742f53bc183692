// Package loopback says whether a host is this machine's.
package loopback

import "net"

// Is reports whether host is localhost or a loopback IP.
func Is(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
