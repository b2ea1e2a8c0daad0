// X.509 issuance with the openssl command: Node 20's crypto reads certificates (X509Certificate)
// but cannot make them, and openssl is on every server distribution and in setup.sh already, where a
// pure-JS ASN.1 library would be one more crypto dependency to trust. It runs a few times per tree
// (certificates are kept and reused), so a process per call costs nothing that matters. Arguments
// are argv words (no shell); the subject and SAN values are checked by the caller, and the keys are
// written into a directory only this user may enter.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TreescaleError } from "../errors.js";

const OPENSSL_TIMEOUT_MS = 30_000;
const CA_DAYS = 3650;
const NODE_DAYS = 825;

export type KeyPair = { cert: string; key: string };

/** A self-signed CA (EC P-256) for one tree. */
export async function makeCa(workDir: string, commonName: string): Promise<KeyPair> {
  return inTemp(workDir, async (dir) => {
    await openssl(
      "req",
      "-x509",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "ca.key"),
      "-out",
      join(dir, "ca.crt"),
      "-days",
      String(CA_DAYS),
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE,pathlen:0",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    return read(dir, "ca");
  });
}

/**
 * A node's certificate, signed by the CA: its name as subject and DNS name, its address as IP (or
 * DNS) name, good as a server and as a client (children present it to their parent).
 */
export async function issueNodeCertificate(
  workDir: string,
  ca: KeyPair,
  node: { name: string; altNames: readonly string[] },
): Promise<KeyPair> {
  return inTemp(workDir, async (dir) => {
    await writeFile(join(dir, "ca.crt"), ca.cert, { mode: 0o600 });
    await writeFile(join(dir, "ca.key"), ca.key, { mode: 0o600 });
    // x509 -req reads extensions from a file (openssl 1.1.1 has no req -CA to do it in one call).
    await writeFile(
      join(dir, "ext.cnf"),
      [
        `subjectAltName=${node.altNames.join(",")}`,
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    await openssl(
      "req",
      "-new",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "node.key"),
      "-out",
      join(dir, "node.csr"),
      "-subj",
      `/CN=${node.name}`,
    );
    await openssl(
      "x509",
      "-req",
      "-in",
      join(dir, "node.csr"),
      "-CA",
      join(dir, "ca.crt"),
      "-CAkey",
      join(dir, "ca.key"),
      "-set_serial",
      `0x${randomBytes(16).toString("hex")}`,
      "-days",
      String(NODE_DAYS),
      "-extfile",
      join(dir, "ext.cnf"),
      "-out",
      join(dir, "node.crt"),
    );
    return read(dir, "node");
  });
}

/** A private directory under workDir (0700, removed after), so no key is ever readable by others. */
async function inTemp<T>(workDir: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(workDir, ".issue-"));
  try {
    await chmod(dir, 0o700);
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function read(dir: string, name: string): Promise<KeyPair> {
  const [cert, key] = await Promise.all([
    readFile(join(dir, `${name}.crt`), "utf8"),
    readFile(join(dir, `${name}.key`), "utf8"),
  ]);
  return { cert, key };
}

function openssl(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { timeout: OPENSSL_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new TreescaleError(
          "TLS_ISSUE_FAILED",
          missing
            ? "openssl is not installed on this machine: build --tls makes the tree's certificates with it (apt-get install openssl)"
            : `openssl ${args[0]} failed making the tree's certificates: ${String(stderr).trim().slice(0, 400) || error.message}`,
          { cause: error },
        ),
      );
    });
  });
}
