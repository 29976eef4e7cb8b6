package dev.meshlite.istiod.ca;

import java.io.StringReader;
import java.security.PublicKey;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.RSAPublicKey;
import org.bouncycastle.asn1.sec.SECObjectIdentifiers;
import org.bouncycastle.asn1.x509.SubjectPublicKeyInfo;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

/**
 * A CSR reduced to what the CA uses: its public key, after the CSR's signature proved possession
 * of the private key. The subject and requested extensions are ignored on purpose: the identity
 * comes from the authorization decision (DESIGN §6).
 *
 * <p>Accepted keys: EC P-256 and RSA of at least 2048 bits. Everything else is refused whole.
 */
public record CertificateRequest(PublicKey publicKey) {

    /** Larger than any CSR a workload sends; refuses junk before parsing it. */
    static final int MAX_PEM_CHARS = 16 * 1024;
    static final int MIN_RSA_BITS = 2048;

    public static CertificateRequest parse(String pem) throws InvalidCsrException {
        if (pem == null || pem.isBlank()) {
            throw new InvalidCsrException("csr: empty (expected: a PEM CERTIFICATE REQUEST)");
        }
        if (pem.length() > MAX_PEM_CHARS) {
            throw new InvalidCsrException("csr: " + pem.length() + " characters (expected: <= " + MAX_PEM_CHARS + ")");
        }
        PKCS10CertificationRequest csr;
        try (PEMParser parser = new PEMParser(new StringReader(pem))) {
            Object o = parser.readObject();
            if (!(o instanceof PKCS10CertificationRequest r)) {
                throw new InvalidCsrException("csr: "
                        + (o == null ? "no PEM block" : "a " + o.getClass().getSimpleName())
                        + " (expected: a PEM CERTIFICATE REQUEST)");
            }
            csr = r;
        } catch (InvalidCsrException e) {
            throw e;
        } catch (Exception e) { // BC throws IOException and several unchecked decoding errors.
            throw new InvalidCsrException("csr: unreadable: " + e.getMessage()
                    + " (expected: a PEM CERTIFICATE REQUEST)");
        }
        SubjectPublicKeyInfo spki = csr.getSubjectPublicKeyInfo();
        requireAcceptableKey(spki);
        try {
            if (!csr.isSignatureValid(new JcaContentVerifierProviderBuilder().build(spki))) {
                throw new InvalidCsrException("csr: signature does not verify with the CSR's public key");
            }
            return new CertificateRequest(new JcaPEMKeyConverter().getPublicKey(spki));
        } catch (InvalidCsrException e) {
            throw e;
        } catch (Exception e) {
            throw new InvalidCsrException("csr: signature cannot be checked: " + e.getMessage());
        }
    }

    private static void requireAcceptableKey(SubjectPublicKeyInfo spki) throws InvalidCsrException {
        ASN1ObjectIdentifier alg = spki.getAlgorithm().getAlgorithm();
        try {
            if (alg.equals(X9ObjectIdentifiers.id_ecPublicKey)) {
                Object params = spki.getAlgorithm().getParameters();
                if (!SECObjectIdentifiers.secp256r1.equals(params)) {
                    throw new InvalidCsrException("csr: EC key on curve " + params + " (expected: P-256, "
                            + SECObjectIdentifiers.secp256r1 + ")");
                }
                return;
            }
            if (alg.equals(PKCSObjectIdentifiers.rsaEncryption)) {
                int bits = RSAPublicKey.getInstance(spki.parsePublicKey()).getModulus().bitLength();
                if (bits < MIN_RSA_BITS) {
                    throw new InvalidCsrException("csr: RSA key of " + bits + " bits (expected: >= "
                            + MIN_RSA_BITS + ")");
                }
                return;
            }
        } catch (InvalidCsrException e) {
            throw e;
        } catch (Exception e) {
            throw new InvalidCsrException("csr: unreadable public key: " + e.getMessage());
        }
        throw new InvalidCsrException("csr: key algorithm " + alg + " (expected: EC P-256 or RSA >= 2048)");
    }
}
