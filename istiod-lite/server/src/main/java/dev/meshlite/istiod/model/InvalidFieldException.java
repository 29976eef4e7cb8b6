package dev.meshlite.istiod.model;

/** A field of an object is not what its schema allows; the whole object is then ignored. */
final class InvalidFieldException extends Exception {

    private final String field;

    InvalidFieldException(String field, String reason) {
        super(reason);
        this.field = field;
    }

    String field() {
        return field;
    }
}
