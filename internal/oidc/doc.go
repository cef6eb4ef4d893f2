// Package oidc mints the tokens OpenTasks puts in Authorization headers.
//
// OIDC tokens are real RS256 JWTs, shaped like Google's ID tokens (iss,
// aud, sub, email, email_verified, iat, exp one hour later), signed by an
// RSA key the server creates on first start and keeps in its store (record
// kind store.KindSigningKey), so tokens stay verifiable across restarts
// and across the nodes of a shared store. The server publishes the
// discovery document and the JWKS (Discovery, JWKS), so a target verifies
// OpenTasks tokens exactly as it verifies Google's, with the issuer URL
// swapped. Signing costs about a millisecond, so a token is reused for the
// same service account and audience until it is ten minutes from expiry.
//
// OAuth access tokens cannot be minted locally; they come from a source
// chosen by ParseOAuthSource ("static:TOKEN", or "google" for Application
// Default Credentials).
package oidc
