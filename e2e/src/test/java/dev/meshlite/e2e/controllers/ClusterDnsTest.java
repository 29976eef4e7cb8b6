package dev.meshlite.e2e.controllers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.PodTemplateSpecBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClusterDnsTest {

    private static Service svc(String ns, String name, String ip) {
        return new ServiceBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
                .withNewSpec().withClusterIP(ip).endSpec().build();
    }

    private static ControllerManager.Snapshot snapshot(List<Service> services) {
        var ns = List.of(new io.fabric8.kubernetes.api.model.NamespaceBuilder().withNewMetadata().withName("shop").endMetadata().build());
        return new ControllerManager.Snapshot(ns, List.of(), List.of(), services, List.of(), List.of(), List.of(), List.of());
    }

    @Test
    void shortNamesOnlyForTheNamespacesOwnServicesAndNoHeadless() {
        String hosts = ClusterDns.hosts("shop", snapshot(List.of(svc("shop", "backend", "10.96.0.10"),
                svc("legacy", "db", "10.96.0.11"), svc("shop", "headless", "None"))));
        assertTrue(hosts.contains("10.96.0.10 backend.shop.svc.cluster.local backend.shop.svc backend.shop backend\n"), hosts);
        assertTrue(hosts.contains("10.96.0.11 db.legacy.svc.cluster.local db.legacy.svc db.legacy\n"), hosts);
        assertTrue(!hosts.contains("headless"), hosts);
    }

    @Test
    void filesAreRewrittenInPlaceSoEarlierBindMountsSeeChanges(@TempDir Path dir) throws Exception {
        ClusterDns dns = new ClusterDns(dir);
        dns.write(snapshot(List.of(svc("shop", "backend", "10.96.0.10"))));
        Path file = dir.resolve("shop.hosts");
        Object inode = Files.getAttribute(file, "unix:ino");
        dns.write(snapshot(List.of()));
        assertEquals(inode, Files.getAttribute(file, "unix:ino"));
        assertTrue(!Files.readString(file).contains("backend"), Files.readString(file));
    }

    @Test
    void theTemplateHashIsStableAndFollowsTheTemplate() {
        var t1 = new PodTemplateSpecBuilder().withNewMetadata().addToLabels("app", "a").endMetadata()
                .withNewSpec().addNewContainer().withName("c").withImage("sample/sleep").endContainer().endSpec().build();
        var t2 = new PodTemplateSpecBuilder(t1).editSpec().editFirstContainer().withImage("sample/http-echo")
                .endContainer().endSpec().build();
        assertEquals(Workloads.templateHash(t1), Workloads.templateHash(new PodTemplateSpecBuilder(t1).build()));
        assertTrue(!Workloads.templateHash(t1).equals(Workloads.templateHash(t2)));
        assertTrue(Workloads.templateHash(t1).matches("[bcdfghjklmnpqrstvwxz2456789]{10}"), Workloads.templateHash(t1));
    }
}
