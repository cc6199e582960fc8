//go:build tools

// Package interop pins the Tailscale client binaries that the interop tests build, and
// h2spec, the HTTP/2 conformance checker run against our HTTP/2 server.
package interop

import (
	_ "github.com/summerwind/h2spec/cmd/h2spec"
	_ "tailscale.com/cmd/tailscale"
	_ "tailscale.com/cmd/tailscaled"
)
