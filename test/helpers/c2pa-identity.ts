/**
 * A C2PA signing identity made for a test with openssl: a root CA and an end-entity certificate (EC P-256, key usage
 * digitalSignature, extended key usage emailProtection, as the C2PA certificate profile asks), valid for a day.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { C2paSigningIdentity } from '../../src/simulator/c2pa-signer.js';
import { temporaryDirectory } from './files.js';

const EXTENSIONS = `[req]
distinguished_name=dn
prompt=no
[dn]
CN=image-batch test root
O=image-batch tests
[root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[signer]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

/** A signing identity and the path of its root certificate (a trust anchor file for IMAGE_BATCH_C2PA_TRUST_ANCHORS). */
export interface TestSigningIdentity {
  identity: C2paSigningIdentity;
  trustAnchorPath: string;
}

/** Make a root and a signer certificate in a temporary directory. @throws when openssl fails. */
export async function makeTestSigningIdentity(): Promise<TestSigningIdentity> {
  const directory = await temporaryDirectory();
  const file = (name: string) => path.join(directory, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: directory, stdio: 'pipe' });
  writeFileSync(file('openssl.cnf'), EXTENSIONS);
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'root.key');
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    'root.key',
    '-config',
    'openssl.cnf',
    '-extensions',
    'root',
    '-days',
    '2',
    '-out',
    'root.pem',
  );
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'signer.key');
  openssl(
    'req',
    '-new',
    '-key',
    'signer.key',
    '-subj',
    '/CN=Simulated image host/O=image-batch simulator',
    '-out',
    'signer.csr',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    'signer.csr',
    '-CA',
    'root.pem',
    '-CAkey',
    'root.key',
    '-CAcreateserial',
    '-extfile',
    'openssl.cnf',
    '-extensions',
    'signer',
    '-days',
    '1',
    '-out',
    'signer.pem',
  );
  return {
    identity: {
      certificateChainPem: readFileSync(file('signer.pem'), 'utf8') + readFileSync(file('root.pem'), 'utf8'),
      privateKeyPem: readFileSync(file('signer.key'), 'utf8'),
    },
    trustAnchorPath: file('root.pem'),
  };
}
