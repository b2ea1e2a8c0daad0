// This build's version: what `--version` prints and the node image tag a build runs. A unit test
// keeps it equal to package.json's.
export const VERSION = "0.1.0";
