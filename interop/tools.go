//go:build tools

// Package interop pins the Tailscale client binaries that the interop tests build.
package interop

import (
	_ "tailscale.com/cmd/tailscale"
	_ "tailscale.com/cmd/tailscaled"
)
