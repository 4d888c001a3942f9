"""The small embedded-default dataset the generator and benchmark-layout tests read (generated once)."""
import pytest

from llava.data.synthetic import generate_dataset

@pytest.fixture(scope="package")
def small():
    """Sizes of the test dataset: 40 training images, 3 held-out questions per task, 64 px."""
    return dict(num_train=40, num_test=3, image_size=64)


@pytest.fixture(scope="package")
def dataset(tmp_path_factory, small):
    return generate_dataset(tmp_path_factory.mktemp("syn"), seed=0, **small)
