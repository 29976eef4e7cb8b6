package dev.meshlite.e2e.cluster;

import io.fabric8.kubernetes.client.informers.ResourceEventHandler;

/** An informer handler for level-triggered loops: every add, update or delete requests a pass. */
public record OnAnyChange<T>(Runnable request) implements ResourceEventHandler<T> {

    @Override
    public void onAdd(T obj) {
        request.run();
    }

    @Override
    public void onUpdate(T oldObj, T newObj) {
        request.run();
    }

    @Override
    public void onDelete(T obj, boolean deletedFinalStateUnknown) {
        request.run();
    }
}
