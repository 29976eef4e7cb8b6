package dev.meshlite.e2e.manifests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The container images the Maven build makes with Jib, read from the poms themselves (each
 * reactor module's jib-maven-plugin {@code to.image} and {@code container.mainClass}), so the
 * manifests are checked against the one place the names are written.
 */
final class JibImages {

    /** One module's image: where the module is, the image reference, the program it runs. */
    record JibImage(Path moduleDir, String module, String image, String mainClass) {
        Path sources() {
            return moduleDir.resolve("src/main/java");
        }
    }

    private JibImages() {
    }

    static List<JibImage> read(Path root) throws Exception {
        List<JibImage> images = new ArrayList<>();
        Element parent = parse(root.resolve("pom.xml"));
        for (Element entry : children(child(parent, "modules"), "module")) {
            Path dir = root.resolve(entry.getTextContent().strip());
            Element pom = parse(dir.resolve("pom.xml"));
            Element jib = jibPlugin(pom);
            if (jib == null) {
                continue;
            }
            Element config = child(jib, "configuration");
            String image = text(child(child(config, "to"), "image"));
            String mainClass = text(child(child(config, "container"), "mainClass"));
            if (image == null || mainClass == null) {
                throw new AssertionError(dir + "/pom.xml: jib-maven-plugin without to.image or container.mainClass");
            }
            String module = root.relativize(dir).toString();
            images.add(new JibImage(dir, module, resolve(image, pom, dir), mainClass));
        }
        return images;
    }

    private static Element jibPlugin(Element pom) {
        for (Element plugin : children(child(child(pom, "build"), "plugins"), "plugin")) {
            if ("jib-maven-plugin".equals(text(child(plugin, "artifactId")))) {
                return plugin;
            }
        }
        return null;
    }

    /** {@code ${project.version}} is the only property an image reference may use. */
    private static String resolve(String image, Element pom, Path dir) {
        String version = text(child(pom, "version"));
        if (version == null) {
            version = text(child(child(pom, "parent"), "version"));
        }
        String resolved = image.replace("${project.version}", version == null ? "" : version);
        if (resolved.contains("${")) {
            throw new AssertionError(dir + "/pom.xml: jib to.image " + image + " (expected: no property but ${project.version})");
        }
        return resolved;
    }

    private static Element parse(Path pom) throws Exception {
        if (!Files.isRegularFile(pom)) {
            throw new AssertionError("no " + pom);
        }
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile()).getDocumentElement();
    }

    private static Element child(Element parent, String name) {
        if (parent == null) {
            return null;
        }
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                return e;
            }
        }
        return null;
    }

    private static List<Element> children(Element parent, String name) {
        List<Element> out = new ArrayList<>();
        if (parent != null) {
            for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
                if (n instanceof Element e && e.getTagName().equals(name)) {
                    out.add(e);
                }
            }
        }
        return out;
    }

    private static String text(Element e) {
        return e == null ? null : e.getTextContent().strip();
    }
}
