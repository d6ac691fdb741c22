import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from densecli import data
from densecli.errors import DataError
from densecli.spec import load_spec
from densecli.tasks import ClassificationTask

from conftest import CONFIGS, PIMA_CSV


def _classes(dataset: data.Dataset) -> ClassificationTask:
    return ClassificationTask(load_spec(CONFIGS / "pima.yaml"), dataset)


@pytest.mark.data
def test_pima_is_found_through_the_data_dir_and_recognised() -> None:
    pima = data.dataset_for(None)
    assert pima.path.resolve() == PIMA_CSV.resolve()
    assert pima.known is data.PIMA
    assert (pima.n_rows, pima.n_features) == (768, 8)
    assert np.bincount(pima.target.astype(int)).tolist() == [500, 268]
    assert round(_classes(pima).majority_rate, 3) == 0.651
    assert pima.feature_names[1] == "glucose" and pima.target_name == "outcome"
    assert pima.default_train_rows() == 700


@pytest.mark.data
def test_the_last_68_rows_answer_negative_603_percent_of_the_time() -> None:
    pima = data.dataset_for(None)
    _, test_rows = data.classic_split(pima.n_rows, 700)
    assert test_rows.size == 68
    assert round(float(np.mean(pima.target[test_rows] == 0)), 3) == 0.603


@pytest.mark.data
def test_folds_are_exactly_sklearns_stratified_kfold() -> None:
    pima = data.dataset_for(None)
    ours = _classes(pima).cv_folds(10, seed=7)
    theirs = StratifiedKFold(10, shuffle=True, random_state=7).split(pima.features, pima.target)
    for (our_train, our_test), (their_train, their_test) in zip(ours, theirs, strict=True):
        assert np.array_equal(our_train, their_train) and np.array_equal(our_test, their_test)


def test_a_header_is_detected_and_the_target_can_be_named(tmp_path: Path) -> None:
    csv = tmp_path / "tiny.csv"
    csv.write_text("a,label,b\n1,0,2\n3,1,4\n5,0,6\n\n")
    table = data.load_dataset(csv, data.TableOptions(target="label"))
    assert table.feature_names == ("a", "b") and table.target_name == "label"
    assert table.features.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert table.default_train_rows() == 2


def test_a_first_row_mixing_numbers_and_text_is_refused_unless_header_is_true(
    tmp_path: Path,
) -> None:
    csv = tmp_path / "typo.csv"
    csv.write_text("1,x2,0\n3,4,1\n5,6,0\n")
    with pytest.raises(DataError, match=r"row 1 mixes numbers .*column 2 'x2'"):
        data.load_dataset(csv)
    forced = data.load_dataset(
        csv, data.TableOptions(header=True)
    )  # a header whose names happen to be numbers
    assert forced.feature_names == ("1", "x2") and forced.n_rows == 2
    headerless = tmp_path / "plain.csv"
    headerless.write_text("1,2,0\n3,4,1\n")
    assert data.load_dataset(headerless).n_rows == 2  # every cell a number: data, not a header


def test_a_target_with_three_classes_is_indexed_in_label_order(tmp_path: Path) -> None:
    csv = tmp_path / "three.csv"
    csv.write_text("1,5\n2,7\n3,5\n4,9\n")
    spec = load_spec(CONFIGS / "pima.yaml", ["model.layers.2.units=3"])
    classes = ClassificationTask(spec, data.load_dataset(csv))
    assert classes.classes.tolist() == [5, 7, 9]
    assert classes.class_index.tolist() == [0, 1, 0, 2]


@pytest.fixture
def offline_origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No DENSECLI_DATA_DIR, an empty cache, and a file:// origin instead of the internet."""
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "cache"))
    origin = tmp_path / "mirror" / "pima.csv"
    origin.parent.mkdir()
    monkeypatch.setenv(data.PIMA_URL_ENV, origin.as_uri())
    return origin


@pytest.mark.data
def test_download_verifies_the_checksum_and_fills_the_cache(offline_origin: Path) -> None:
    offline_origin.write_bytes(PIMA_CSV.read_bytes())
    path = data.locate_pima()
    assert path == Path(data.cache_dir()) / data.PIMA_FILENAME
    assert data.sha256_of(path) == data.PIMA.sha256
    offline_origin.unlink()  # the second call must use the cache, not the origin
    assert data.locate_pima() == path


@pytest.mark.data
def test_a_corrupt_download_leaves_nothing_in_the_cache(offline_origin: Path) -> None:
    offline_origin.write_bytes(PIMA_CSV.read_bytes()[:-10])
    with pytest.raises(DataError, match="download of the Pima data failed"):
        data.locate_pima()
    assert list(data.cache_dir().iterdir()) == []


@pytest.mark.data
def test_an_interrupted_download_leaves_nothing_a_later_run_trusts(
    offline_origin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = PIMA_CSV.read_bytes()

    class HalfThenCtrlC(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            # A real Ctrl-C, mid-download, to the main thread: sent to the process, the kernel
            # may hand it to this thread, and the download would see the connection close
            # before Python's handler runs (seen on a loaded machine).
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            time.sleep(1)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), HalfThenCtrlC)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(data.PIMA_URL_ENV, f"http://127.0.0.1:{server.server_port}/pima.csv")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    # Python's own Ctrl-C, whatever this process inherited: started in the background by a
    # shell without job control, it ignores SIGINT, and the Ctrl-C would never arrive.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            data.locate_pima()
    finally:
        signal.signal(signal.SIGINT, inherited)
        server.shutdown()
    assert list(data.cache_dir().iterdir()) == []  # no partial file, no scratch folder
    offline_origin.write_bytes(payload)
    monkeypatch.setenv(data.PIMA_URL_ENV, offline_origin.as_uri())
    assert data.sha256_of(data.locate_pima()) == data.PIMA.sha256


@pytest.mark.data
def test_a_truncated_file_in_the_cache_is_not_trusted(offline_origin: Path) -> None:
    cached = data.cache_dir() / data.PIMA_FILENAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PIMA_CSV.read_bytes()[:1000])  # as a killed copy might leave it
    offline_origin.write_bytes(PIMA_CSV.read_bytes())
    assert data.sha256_of(data.locate_pima()) == data.PIMA.sha256


def test_a_missing_origin_is_a_clear_error(offline_origin: Path) -> None:
    with pytest.raises(DataError, match="pass the file with --data PATH"):
        data.locate_pima()


def test_a_wrong_file_in_the_data_dir_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / data.PIMA_FILENAME).write_text("1,2,0\n")
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataError, match="expected 6bfe5d0f379d"):
        data.locate_pima()
