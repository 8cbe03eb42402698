// Command parley runs the Parley real-time server.
//
//	parley [flags]                 the server; parley -h lists the flags,
//	                               each with a PARLEY_* environment default
//	parley conformance [--addr a]  the protocol conformance profile
//
// Only this package reads flags, the environment and signals; everything
// else takes a server.Config.
package main
