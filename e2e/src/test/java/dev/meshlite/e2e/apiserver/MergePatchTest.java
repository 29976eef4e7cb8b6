package dev.meshlite.e2e.apiserver;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MergePatchTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest(name = "{0} + {1} = {2}")
    @CsvSource(delimiter = '|', value = {
        // a null removes the key: what `kubectl label ns X key-` sends
        "{'metadata':{'labels':{'foo':'bar','a':'b'}}} | {'metadata':{'labels':{'foo':null}}} | {'metadata':{'labels':{'a':'b'}}}",
        "{'metadata':{'labels':{'a':'b'}}}             | {'metadata':{'labels':{'foo':'bar'}}} | {'metadata':{'labels':{'a':'b','foo':'bar'}}}",
        "{'a':{'b':1}}                                 | {'a':2}                                | {'a':2}",
        "{'a':[1,2,3]}                                 | {'a':[4]}                              | {'a':[4]}",
        "{'a':1}                                       | {'b':{'c':null,'d':1}}                 | {'a':1,'b':{'d':1}}",
        "{'a':1}                                       | {'missing':null}                       | {'a':1}",
    })
    void appliesRfc7386(String target, String patch, String expected) throws Exception {
        assertEquals(json(expected), MergePatch.apply(json(target), json(patch)));
    }

    private static com.fasterxml.jackson.databind.JsonNode json(String s) throws Exception {
        return JSON.readTree(s.replace('\'', '"'));
    }
}
