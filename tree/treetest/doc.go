// Package treetest makes test material for the tree and the layers above
// it (engine, broadcast): random but valid transaction histories, made
// the way the servers make them (a tree.Preparer against a scratch tree).
package treetest
