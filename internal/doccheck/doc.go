// Package doccheck holds a test that every exported name of vmkit's public
// packages has a doc comment, and that each package has a package comment.
package doccheck
